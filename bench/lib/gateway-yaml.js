// The Listener and Host every benchmark configuration starts with: one HTTP port whose cleartext
// requests are routed (without a Host, cleartext would be redirected to HTTPS, Emissary's default).

/** A Listener on `port` and a Host routing cleartext for every hostname, as YAML ending before a `---`. */
export function cleartextGatewayYaml(port) {
  return `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http}
spec:
  port: ${port}
  protocol: HTTP
  securityModel: XFP
  hostBinding: {namespace: {from: ALL}}
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: {name: cleartext}
spec:
  hostname: "*"
  requestPolicy: {insecure: {action: Route}}
`;
}
