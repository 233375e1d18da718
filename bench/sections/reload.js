// placeholder
export async function runReload() { return { skipped: "not written yet" }; }
