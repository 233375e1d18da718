// placeholder
export async function runH2() { return { skipped: "not written yet" }; }
