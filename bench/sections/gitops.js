// placeholder
export async function runGitops() { return { skipped: "not written yet" }; }
