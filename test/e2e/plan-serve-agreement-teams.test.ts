// plan predicts what serve does: changes a team pushes (the changes and the harness are in plan-serve-agreement.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agreementTests, GROUPS, SCENARIO_NAMES } from './plan-serve-agreement.js';

agreementTests(GROUPS.teams);

test('the three files run every change once', () => {
  assert.deepEqual([...GROUPS.teams, ...GROUPS.central, ...GROUPS.history].sort(), [...SCENARIO_NAMES].sort());
});
