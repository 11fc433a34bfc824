/**
 * x402 USDC on the local chain (EIP-3009 on the local USDC), paid by @x402/fetch with the
 * @x402/evm signer, for /scrape and /execute; settled after the job from the settler wallet, only
 * when the job is charged; refusals: replay, wrong amount / recipient / network, expired.
 */
import { expect } from "chai";
import { getAddress, HDNodeWallet, Wallet } from "ethers";
import { signAgentRequestEvm } from "../../../keeper/payments/agentAuth";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { startTestChain, TestChain } from "../shared/chain";
import { startApiHarness, startPageServer, ApiHarness } from "./harness";
import { evmScheme, usdcFetch, usdcRail, UsdcRail } from "./x402EvmFixture";
import { decodePaymentResponseHeader, post } from "./x402Fixture";

describe("x402: USDC by EIP-3009 with @x402/fetch", function () {
  this.timeout(120_000);
  let chain: TestChain;
  let rail: UsdcRail;
  let h: ApiHarness;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let n = 0;
  before(async () => {
    chain = await startTestChain();
    rail = await usdcRail(chain);
    pages = await startPageServer();
    h = await startApiHarness(rail.env);
  });
  after(async () => {
    await h?.close();
    await pages?.close();
    await chain?.stop();
  });

  const jobs = () => (h.db.prepare("SELECT COUNT(*) n FROM jobs").get() as { n: number }).n;
  const requirement = async (route: string, body: unknown): Promise<PaymentRequirements> => {
    const r = await post(fetch, h.url + route, body);
    expect(r.status).to.equal(402);
    return decodePaymentRequiredHeader(r.headers.get("payment-required")!).accepts[0];
  };

  it("offers exact on the local chain: USDC, the token's EIP-712 name and version, price = WATT price x X402_USDC_PER_WATT", async () => {
    const a = await requirement("/api/v1/scrape", { url: `${pages.url}/q`, job_id: `evm-q-${++n}` });
    expect(a).to.deep.include({
      scheme: "exact",
      network: rail.network,
      asset: getAddress(chain.deployment.contracts.USDC),
      payTo: getAddress(rail.payTo),
      amount: "10000",
    });
    expect(a.extra).to.include({ name: "USD Coin", version: "1" });
  });

  for (const [route, body, usdc] of [
    ["/api/v1/scrape", () => ({ url: `${pages.url}/usdc${++n}`, job_id: `evm-scrape-${Date.now()}` }), 10_000n],
    ["/api/v1/execute", () => ({ job_id: `evm-exec-${Date.now()}`, language: "python", code: "print(2**10)" }), 30_000n],
  ] as const) {
    it(`pays ${route} in USDC: settled after the job, once, the job is the payer's`, async () => {
      const agent = await rail.agent();
      const before = await rail.balance(rail.payTo);
      const b = body();
      const r = await post(usdcFetch(rail, chain.deployment.contracts.USDC, agent), h.url + route, b);
      const a = await r.json();
      expect(r.status, JSON.stringify(a)).to.equal(200);
      if (route.endsWith("execute")) expect(a.output.stdout).to.equal("1024\n");
      expect(a.watt_charged).to.equal(0);
      const receipt = decodePaymentResponseHeader(r.headers.get("payment-response")!);
      expect(receipt).to.include({ success: true, network: rail.network, payer: agent.address });
      expect((await rail.balance(rail.payTo)) - before).to.equal(usdc);
      expect(await rail.balance(agent.address)).to.equal(10_000_000n - usdc);
      expect((h.db.prepare("SELECT agent FROM jobs WHERE job_id = ?").get(b.job_id) as { agent: string }).agent).to.equal(agent.address);
      expect((await h.totals()).discrepancy).to.equal(0n);
    });
  }

  it("the job's result is the payer's: GET /jobs/:id signed by its EVM key (EIP-191) gives the agent view, another key the public view", async () => {
    const agent = await rail.agent();
    const b = { url: `${pages.url}/mine${++n}`, job_id: `evm-mine-${Date.now()}` };
    const r = await post(usdcFetch(rail, chain.deployment.contracts.USDC, agent), h.url + "/api/v1/scrape", b);
    expect(r.status).to.equal(200);
    const route = `/api/v1/jobs/${b.job_id}`;
    const read = async (signer?: Wallet | HDNodeWallet) =>
      (await fetch(h.url + route, { headers: signer ? await signAgentRequestEvm(signer, h.serviceId, "GET", route, "") : {} })).json();
    const mine = await read(agent);
    expect(mine).to.include({ view: "agent", agent: agent.address, state: "succeeded" });
    expect(JSON.stringify(mine)).to.contain(b.url);
    for (const other of [Wallet.createRandom(), undefined]) {
      const v = await read(other);
      expect(v).to.include({ view: "public", state: "succeeded" });
      expect(JSON.stringify(v)).to.not.contain(b.url);
      expect(JSON.stringify(v)).to.not.contain(agent.address);
    }
    // An EVM-signed request with no prepaid balance is told to pay by x402 (nothing runs, nothing is charged).
    const body = JSON.stringify({ url: `${pages.url}/evm-signed${++n}`, job_id: `evm-signed-${Date.now()}` });
    const before = jobs();
    const signed = await fetch(h.url + "/api/v1/scrape", {
      method: "POST",
      headers: { "content-type": "application/json", ...(await signAgentRequestEvm(agent, h.serviceId, "POST", "/api/v1/scrape", body)) },
      body,
    });
    expect(signed.status).to.equal(402);
    expect(await signed.json()).to.include({ success: false, code: "PAYMENT_INSUFFICIENT" });
    expect(jobs()).to.equal(before);
  });

  it("a job refunded by its service is not settled: no USDC moves", async () => {
    const agent = await rail.agent();
    const jobId = `evm-refund-${Date.now()}`;
    const r = await post(usdcFetch(rail, chain.deployment.contracts.USDC, agent), h.url + "/api/v1/scrape", {
      url: "http://nonexistent-host.invalid/x",
      job_id: jobId,
    });
    const a = await r.json();
    expect(a).to.include({ success: false, code: "SCRAPE_FAILED", reason: "unreachable" }); // failed while running: refunded by the service
    expect(r.headers.get("payment-response")).to.equal(null);
    expect(await rail.balance(agent.address)).to.equal(10_000_000n);
    expect(h.db.prepare("SELECT state, error FROM x402_settlements WHERE job_id = ?").get(jobId)).to.deep.equal({
      state: "failed",
      error: "released: the job was not charged",
    });
  });

  async function authorization(agent: Awaited<ReturnType<UsdcRail["agent"]>>, req: PaymentRequirements, accepted = req) {
    const p = await evmScheme(agent).createPaymentPayload(2, req);
    return encodePaymentSignatureHeader({ x402Version: 2, accepted, payload: p.payload });
  }

  it("a replayed authorization: X402_PAYMENT_ALREADY_USED, paid once", async () => {
    const agent = await rail.agent();
    const b = { url: `${pages.url}/replay`, job_id: `evm-replay-${Date.now()}` };
    const hdr = await authorization(agent, await requirement("/api/v1/scrape", b));
    expect((await post(fetch, h.url + "/api/v1/scrape", b, { "payment-signature": hdr })).status).to.equal(200);
    const again = await post(fetch, h.url + "/api/v1/scrape", b, { "payment-signature": hdr });
    expect(again.status).to.equal(409);
    expect((await again.json()).code).to.equal("X402_PAYMENT_ALREADY_USED");
    expect(await rail.balance(agent.address)).to.equal(10_000_000n - 10_000n);
  });

  for (const [what, alter, reason] of [
    ["amount", (r: PaymentRequirements) => ({ ...r, amount: "9999" }), "wrong_amount"],
    [
      "recipient",
      (r: PaymentRequirements) => ({ ...r, payTo: getAddress("0x000000000000000000000000000000000000dEaD") }),
      "wrong_recipient",
    ],
    ["network", (r: PaymentRequirements) => ({ ...r, network: "eip155:84532" as const }), "wrong_network"],
    ["expiry", (r: PaymentRequirements) => ({ ...r, maxTimeoutSeconds: 5 }), "expired"],
  ] as const) {
    it(`a wrong ${what}: X402_PAYMENT_INVALID (${reason}), nothing charged, no job`, async () => {
      const agent = await rail.agent();
      const b = { url: `${pages.url}/bad`, job_id: `evm-bad-${what}-${Date.now()}` };
      const right = await requirement("/api/v1/scrape", b);
      const wrong = alter(right);
      const hdr =
        what === "expiry"
          ? await authorization(agent, wrong, right)
          : await authorization(agent, wrong, what === "network" ? wrong : right);
      const before = jobs();
      const r = await post(fetch, h.url + "/api/v1/scrape", b, { "payment-signature": hdr });
      expect(r.status).to.equal(402);
      expect(await r.json()).to.include({ code: "X402_PAYMENT_INVALID", reason });
      expect(jobs()).to.equal(before);
      expect(await rail.balance(agent.address)).to.equal(10_000_000n);
    });
  }
});
