/**
 * `npm run x402-agent`: an agent that pays with x402, the way any x402 client does, against the
 * keeper that `npm start` runs here. @x402/fetch wraps fetch: the first request is answered 402
 * with PAYMENT-REQUIRED, the client signs a payment and retries with PAYMENT-SIGNATURE, the answer
 * carries PAYMENT-RESPONSE. Pays a scrape in WATT (the @x402/svm signer, on the local Solana
 * stand-in) and, when the keeper offers USDC, runs Python paid in USDC (the @x402/evm signer, EIP-3009
 * on the local chain). Against another keeper: set API, the keys and the RPC URLs your way.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { AddressInfo } from "node:net";
import { Keypair } from "@solana/web3.js";
import { createKeyPairSignerFromBytes } from "@solana/kit";
import { JsonRpcProvider, Wallet, Contract } from "ethers";
import { privateKeyToAccount } from "viem/accounts";
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { toClientEvmSigner } from "@x402/evm";
import { devWallet } from "../localnet/chain";

const API = process.env.API ?? `http://127.0.0.1:${process.env.HTTP_PORT ?? 8787}`;
const DATA_DIR = process.env.DATA_DIR ?? "./data";
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(DATA_DIR, f), "utf8"));
const receiptOf = (res: Response) => {
  const h = res.headers.get("payment-response");
  return h ? decodePaymentResponseHeader(h) : undefined;
};

async function main() {
  const sol = read("solana-local.json") as { rpcUrl: string; wattMint: string; agentSecret: string };
  const wattPayer = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(sol.agentSecret)));
  const network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"; // the stand-in, served as devnet (npm start)

  // 1. A fetch that pays. WATT is not one of x402's default assets: allow it, with a cap per payment.
  const client = new x402Client().register(
    network,
    new ExactSvmScheme(await createKeyPairSignerFromBytes(wattPayer.secretKey), { rpcUrl: sol.rpcUrl }),
  );
  client.setSpendControls({ allowedAssets: [{ network, asset: sol.wattMint, maxAmountPerPayment: (1000n * 10n ** 9n).toString() }] });
  const pay = wrapFetchWithPayment(fetch, client);

  // 2. An ordinary request: @x402/fetch handles the 402 and the retry. (A page of our own: no internet here.)
  const page = http.createServer((_q, r) =>
    r
      .writeHead(200, { "content-type": "text/html" })
      .end("<html><head><title>Hello</title></head><body><h1>Paid by x402</h1></body></html>"),
  );
  await new Promise<void>((r) => page.listen(0, "127.0.0.1", () => r()));
  const t0 = Date.now();
  const res = await pay(`${API}/api/v1/scrape`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      url: `http://127.0.0.1:${(page.address() as AddressInfo).port}/`,
      job_id: `x402-agent-${Date.now()}`,
      output_format: "text",
    }),
  });
  const receipt = receiptOf(res);
  const body = await res.json();
  page.close();
  console.log(
    `scrape paid in WATT by x402 -> ${res.status} in ${Date.now() - t0} ms: ${body.success ? `${body.metadata?.size_bytes} bytes` : body.code}, watt_charged ${body.watt_charged}; payer ${receipt?.payer}, tx ${receipt?.transaction}`,
  );

  // 3. USDC on the local chain, when offered (the embedded default offers it).
  const dep = read("local-deployment.json") as { rpcUrl: string; chainId: number; contracts: { USDC: string } };
  const agent = Wallet.createRandom();
  const rpc = new JsonRpcProvider(dep.rpcUrl, dep.chainId, { staticNetwork: true });
  // The local USDC lets anyone mint (it exists only on this chain): 1 USDC for the agent.
  const minter = devWallet(0).connect(rpc);
  await (await new Contract(dep.contracts.USDC, ["function mint(address,uint256)"], minter).mint(agent.address, 1_000_000n)).wait();
  const evmNetwork = `eip155:${dep.chainId}` as const;
  const usdcClient = new x402Client().register(
    evmNetwork,
    new ExactEvmScheme(toClientEvmSigner(privateKeyToAccount(agent.privateKey as `0x${string}`))),
  );
  usdcClient.setSpendControls({ allowedAssets: [{ network: evmNetwork, asset: dep.contracts.USDC, maxAmountPerPayment: "1000000" }] });
  const r2 = await wrapFetchWithPayment(fetch, usdcClient)(`${API}/api/v1/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ job_id: `x402-agent-py-${Date.now()}`, language: "python", code: "print(sum(range(100)))" }),
  });
  const b2 = await r2.json();
  console.log(
    `python paid in USDC by x402 (EIP-3009) -> ${r2.status}: stdout ${JSON.stringify(b2.output?.stdout)}, usdc_charged ${b2.usdc_charged}; tx ${receiptOf(r2)?.transaction}`,
  );
  rpc.destroy();
}

main().catch((e) => {
  console.error(`x402-agent: ${(e as Error).message}`);
  process.exit(1);
});
