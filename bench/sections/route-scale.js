// placeholder
export async function runRouteScale() { return { skipped: "not written yet" }; }
