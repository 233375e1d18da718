// placeholder
export function renderMarkdown(r) { return '```json\n' + JSON.stringify(r, null, 2) + '\n```\n'; }
export function printRatios(r, log) { log(JSON.stringify(r.sections.http1?.ratios ?? {}, null, 2)); }
