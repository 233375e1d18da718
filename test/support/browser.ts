// Headless Chromium from the system (Debian's `chromium`) driven by playwright-core, for the tests
// of the diagnostics page: a fresh profile per launch, console errors collected, screenshots kept.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the browser tests (git-ignored), kept for whoever looks at a run. */
export const ARTEFACTS = resolve('test-artifacts/diag');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Console errors and uncaught exceptions of every page opened so far. */
  readonly errors: string[];
  newPage(): Promise<Page>;
  screenshot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'portico-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  };
  context.on('page', watch);
  mkdirSync(ARTEFACTS, { recursive: true });
  return {
    context,
    errors,
    async newPage() {
      const p = await context.newPage();
      return p;
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the page's script has rendered `name` (main[data-state=ready][data-page=name]). */
export async function rendered(page: Page, name: string): Promise<void> {
  await page.waitForSelector(`main[data-state="ready"][data-page="${name}"]`);
}
