// The gRPC service behind both proxies in the gRPC section: @grpc/grpc-js (Portico's devDependency)
// serving bench.Bench/Unary (one reply) and bench.Bench/Stream (server streaming, STREAM_MESSAGES replies).
import grpc from '@grpc/grpc-js';

const port = Number(process.env.PORT ?? 0);
const streamMessages = Number(process.env.STREAM_MESSAGES ?? 10);
// Messages pass through unparsed (the proxies never read them): a 32-byte protobuf, field 1 bytes.
const REPLY = Buffer.concat([Buffer.from([0x0a, 30]), Buffer.alloc(30, 0x61)]);
const raw = (b) => b;
const method = (name, responseStream) => ({
  path: `/bench.Bench/${name}`, requestStream: false, responseStream,
  requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw,
});
const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
server.addService({ unary: method('Unary', false), stream: method('Stream', true) }, {
  unary: (_call, done) => done(null, REPLY),
  stream: (call) => {
    for (let i = 0; i < streamMessages; i++) call.write(REPLY);
    call.end();
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`ready ${bound}`);
});
