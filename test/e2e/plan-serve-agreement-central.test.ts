// plan predicts what serve does: changes the central repository pushes (the changes and the harness are in plan-serve-agreement.ts).

import { agreementTests, GROUPS } from './plan-serve-agreement.js';

agreementTests(GROUPS.central);
