// placeholder
export async function runConfigScale() { return { skipped: "not written yet" }; }
