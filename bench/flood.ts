/**
 * A wrong-secret flood, in a process of its own so it competes with the measured load for the server, not for the
 * load generator's event loop. Every request carries a fresh well-formed key for a known key_id (in turn): the checksum
 * is valid, so nothing short of the digest can reject it. Connections come from many loopback addresses, in turn.
 * Options as JSON in BENCH_FLOOD; prints `started` when the first requests go out, then the LoadResult as JSON.
 */
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { formatKey, type KeyEnv } from '../packages/server/src/keys/format.ts';
import { summarize } from './lib/load.ts';

export interface FloodOptions {
  url: string;
  prefix: string;
  env: KeyEnv;
  /** Known key_ids the wrong secrets are sent for, in turn. */
  keyIds: string[];
  connections: number;
  durationSec: number;
  /** How many loopback addresses the flood connects from, in turn (127.0.0.2 on; the measured load uses 127.0.0.1). */
  addresses: number;
}

const options = JSON.parse(process.env.BENCH_FLOOD ?? '{}') as FloodOptions;

// An attacker comes from another host than the partner it targets: autocannon has no option for the source
// address, so its connections are made from `localAddress` here (any 127/8 address is local on Linux).
const connect = net.connect;
let nextAddress = 0;
const localAddress = () => `127.0.${2 + Math.floor((nextAddress % options.addresses) / 250)}.${2 + ((nextAddress++ % options.addresses) % 250)}`;
(net as { connect: unknown }).connect = (...args: unknown[]) =>
  typeof args[0] === 'object'
    ? (connect as (...a: unknown[]) => net.Socket)(...args)
    : connect({ port: Number(args[0]), host: args[1] as string, localAddress: localAddress() });
let nextKeyId = 0;
const instance = autocannon(
  {
    url: options.url,
    connections: options.connections,
    duration: options.durationSec,
    requests: [
      {
        setupRequest: (request) => {
          const keyId = options.keyIds[nextKeyId++ % options.keyIds.length]!;
          request.headers = { ...request.headers, 'x-api-key': formatKey(options.prefix, options.env, keyId, randomBytes(28)) };
          return request;
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify(summarize(result))}\n`);
  },
);
instance.once('start', () => process.stdout.write('started\n'));
