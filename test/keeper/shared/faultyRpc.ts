/**
 * A JSON-RPC proxy on 127.0.0.1 in front of a real node that misbehaves on purpose: it drops
 * connections, delays answers, and answers HTTP 500 or JSON-RPC errors, at configurable rates.
 * Randomness is seeded so a failing run can be replayed.
 */
import http from "node:http";

export interface FaultRates {
  drop: number; // destroy the socket without an answer
  error500: number; // HTTP 500
  rpcError: number; // HTTP 200 with a JSON-RPC error
  delay: number; // answer late
  delayMs: number;
}

export interface FaultyRpc {
  url: string;
  rates: FaultRates;
  stats: { requests: number; dropped: number; errors: number; delayed: number };
  close(): Promise<void>;
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export async function startFaultyRpc(upstream: string, rates: Partial<FaultRates> = {}, seed = 42): Promise<FaultyRpc> {
  const random = rng(seed);
  const state: FaultyRpc = {
    url: "",
    rates: { drop: 0, error500: 0, rpcError: 0, delay: 0, delayMs: 300, ...rates },
    stats: { requests: 0, dropped: 0, errors: 0, delayed: 0 },
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    // A throw here (a non-JSON body on the rpcError path) is a bug in the caller: left to surface as
    // an unhandled rejection, which mocha reports as a failure of the running test.
    const answer = async () => {
      state.stats.requests++;
      const r = state.rates;
      const roll = random();
      if (roll < r.drop) {
        state.stats.dropped++;
        req.socket.destroy();
        return;
      }
      if (roll < r.drop + r.error500) {
        state.stats.errors++;
        res.writeHead(500).end("upstream exploded");
        return;
      }
      const body = Buffer.concat(chunks);
      if (roll < r.drop + r.error500 + r.rpcError) {
        state.stats.errors++;
        const parsed = JSON.parse(body.toString());
        const err = (id: unknown) => ({ jsonrpc: "2.0", id, error: { code: -32000, message: "header not found" } });
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify(Array.isArray(parsed) ? parsed.map((p) => err(p.id)) : err(parsed.id)));
        return;
      }
      if (random() < r.delay) {
        state.stats.delayed++;
        await new Promise((x) => setTimeout(x, r.delayMs));
      }
      try {
        const up = await fetch(upstream, { method: "POST", headers: { "content-type": "application/json" }, body });
        res.writeHead(up.status, { "content-type": "application/json" }).end(Buffer.from(await up.arrayBuffer()));
      } catch {
        res.writeHead(502).end();
      }
    };
    req.on("end", () => void answer());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
