import { expect } from "chai";
import { ConfigError, loadConfig } from "../../../../keeper/config";
import { createAkashProvider } from "../../../../keeper/providers/akash";
import { openStore } from "../../../../keeper/store/store";
import { TENANT_MNEMONIC } from "../../../standins/akash";
import { silentLog } from "./helpers";

describe("akash provider from configuration", () => {
  it("is undefined when Akash is not configured", () => {
    expect(createAkashProvider(loadConfig({}), silentLog, openStore(":memory:"))).to.equal(undefined);
    expect(createAkashProvider(loadConfig({ AKASH_REST_URL: "http://127.0.0.1:1" }), silentLog, openStore(":memory:"))).to.equal(undefined);
  });

  it("is the 'akash' provider when the REST URL and mnemonic are set", () => {
    const p = createAkashProvider(
      loadConfig({ AKASH_REST_URL: "http://127.0.0.1:1", AKASH_MNEMONIC: TENANT_MNEMONIC }),
      silentLog,
      openStore(":memory:"),
    );
    expect(p?.name).to.equal("akash");
  });

  it("names a wrong AKASH_* setting without echoing any value (the mnemonic stays out of errors)", () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({ AKASH_REST_URL: "not a url", AKASH_MNEMONIC: TENANT_MNEMONIC, AKASH_BID_WINDOW_MS: "0" });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect(err!.message).to.match(/AKASH_REST_URL/);
    expect(err!.message).to.match(/AKASH_BID_WINDOW_MS/);
    expect(err!.message).to.not.include("abandon");
  });

  it("quotes the price ceiling in USDC base units per hour", async () => {
    const p = createAkashProvider(
      loadConfig({
        AKASH_REST_URL: "http://127.0.0.1:1",
        AKASH_MNEMONIC: TENANT_MNEMONIC,
        AKASH_MAX_PRICE_UAKT_PER_BLOCK: "100",
        AKASH_BLOCK_TIME_S: "6",
        AKASH_USDC_PER_AKT: "2000000",
        AKASH_REQUEST_TIMEOUT_MS: "200",
      }),
      silentLog,
      openStore(":memory:"),
    )!;
    // 600 blocks/h x 100 uakt = 60 000 uakt = 0.06 AKT x 2 USDC = 120 000 base units; chain unreachable: not available.
    const q = await p.quote({ image: "x", cpu: 1, memoryMb: 64, env: {} }, 1);
    expect(q.pricePerHour).to.equal(120_000n);
    expect(q.available).to.equal(false);
  });

  it("an invalid mnemonic fails clearly (AKASH_MNEMONIC_INVALID, not retryable) and is never echoed", async () => {
    const secret = "zebra zebra zebra zebra zebra zebra zebra zebra zebra zebra zebra wrong";
    const p = createAkashProvider(
      loadConfig({ AKASH_REST_URL: "http://127.0.0.1:1", AKASH_MNEMONIC: secret }),
      silentLog,
      openStore(":memory:"),
    )!;
    const h = await p.health();
    expect(h.ok).to.equal(false);
    expect(h.detail).to.match(/^AKASH_MNEMONIC_INVALID/);
    expect(h.detail).to.not.include("zebra");
    const err = await p.provision({ idempotencyKey: "k", spec: { image: "nginx:1", cpu: 1, memoryMb: 64, env: {} }, endsAt: 0 }).then(
      () => undefined,
      (e) => e,
    );
    expect(err.code).to.equal("AKASH_MNEMONIC_INVALID");
    expect(err.retryable).to.equal(false);
    expect(err.message).to.not.include("zebra");
  });
});
