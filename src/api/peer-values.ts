// Envoy's %DOWNSTREAM_PEER_*% values that Portico fills in, in a Mapping's or the Module's
// add_request_headers, from the verified client certificate (docs/reference/protocols.md).

/** Each of them where it appears in a header value; the group is the name after DOWNSTREAM_PEER_. */
export const PEER_VALUE = /%DOWNSTREAM_PEER_(SUBJECT|ISSUER|URI_SAN|DNS_SAN|FINGERPRINT_256|SERIAL)%/g;

const EXACTLY_ONE = new RegExp(`^${PEER_VALUE.source}$`);

/** Whether `value` is exactly one of them. */
export function isPeerValue(value: string): boolean {
  return EXACTLY_ONE.test(value);
}
