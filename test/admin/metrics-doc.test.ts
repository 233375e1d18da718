// Keeps docs/reference/metrics.md and the registered metrics in step, in both directions.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { ConfigMetrics, TrafficMetrics } from '../../src/admin/metrics.js';
import { FleetMetrics } from '../../src/fleet/fleet-metrics.js';
import { Notifier } from '../../src/controller/notifications.js';
import { ReleaseMetrics, SourceMetrics } from '../../src/controller/source-metrics.js';

it('documents every metric, and documents no metric that does not exist', async () => {
  const registry = new Registry();
  new TrafficMetrics(registry);
  new ConfigMetrics(registry);
  new FleetMetrics(registry);
  new ReleaseMetrics(registry);
  new SourceMetrics(registry);
  new Notifier({ registry });
  const registered = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
  const doc = await readFile('docs/reference/metrics.md', 'utf8');
  const documented = [...doc.matchAll(/^\| `(portico_[a-z_]+)` \|/gm)].map((m) => m[1]!).sort();
  assert.deepEqual(documented, registered);
});
