// Policy YAML the end-to-end tests write into config folders and git repositories:
// a Listener binding Hosts from every namespace, a cleartext Host, and a Mapping to a local upstream.

export function listenerYaml(port: number, name = 'http', protocol: 'HTTP' | 'HTTPS' = 'HTTP'): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata:
  name: ${name}
spec:
  port: ${port}
  protocol: ${protocol}
  securityModel: XFP
  hostBinding:
    namespace:
      from: ALL
`;
}

export function mappingYaml(name: string, prefix: string, upstreamPort: number, extra = ''): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: ${name}
spec:
  hostname: "*"
  prefix: ${prefix}
  service: 127.0.0.1:${upstreamPort}
${extra}`;
}

/**
 * A Host "*" whose insecure action is Route. Tests that send cleartext declare it: with no Host at
 * all, Emissary's default Host (and so Portico's) redirects cleartext to HTTPS.
 */
export function cleartextHostYaml(name = 'cleartext'): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: ${name}
spec:
  hostname: "*"
  requestPolicy:
    insecure:
      action: Route
`;
}

/** A cleartext Listener and the Host that routes its requests. */
export function cleartextGatewayYaml(port: number, name = 'http'): string {
  return listenerYaml(port, name) + '---\n' + cleartextHostYaml();
}
