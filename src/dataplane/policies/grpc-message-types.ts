// The request and response message types of a policy service's gRPC call, parsed from its .proto
// text on the first call: a gateway that never asks such a service never loads protobufjs.

import type protobuf from 'protobufjs';
import { onDemand } from '../on-demand-module.js';

const protobufjs = onDemand<typeof protobuf>(import.meta.url, 'protobufjs');

export interface GrpcMessageTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

/** A getter for the two types named (fully qualified) in `proto`, built once, on its first call. */
export function grpcMessageTypes(proto: string, request: string, response: string): () => GrpcMessageTypes {
  let built: GrpcMessageTypes | undefined;
  return () => {
    if (built === undefined) {
      const root = protobufjs().parse(proto, { keepCase: true }).root;
      built = { request: root.lookupType(request), response: root.lookupType(response) };
    }
    return built;
  };
}
