// plan predicts what serve does: force-pushes, signed commits and reverts (the changes and the harness are in plan-serve-agreement.ts).

import { agreementTests, GROUPS } from './plan-serve-agreement.js';

agreementTests(GROUPS.history);
