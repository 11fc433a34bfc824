/**
 * The stand-in is only worth testing against if it refuses what a real node refuses: these tests sign
 * real transactions wrongly and expect the node's own error codes.
 */
import { expect } from "chai";
import { DirectSecp256k1HdWallet, Registry, encodePubkey, makeAuthInfoBytes, makeSignDoc } from "@cosmjs/proto-signing";
import { encodeSecp256k1Pubkey } from "@cosmjs/amino";
import { fromBase64, toBase64 } from "@cosmjs/encoding";
import { TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";
import { connectChain, MESSAGE_TYPES } from "../../../../keeper/providers/akash/chainClient";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../../standins/akash";

describe("akash stand-in: checks chain id, sequence and signature", () => {
  let net: AkashNetwork;
  let tenant: string;
  before(async () => {
    tenant = await addressOf(TENANT_MNEMONIC);
    net = await startAkashNetwork({ blockTimeMs: 20, balances: { [tenant]: 10_000_000n }, providers: [] });
  });
  after(() => net.stop());

  async function signCert(opts: { chainId?: string; sequence?: number; accountNumber?: number; tamper?: boolean }): Promise<string> {
    const wallet = await DirectSecp256k1HdWallet.fromMnemonic(TENANT_MNEMONIC, { prefix: "akash" });
    const [acc] = await wallet.getAccounts();
    const registry = new Registry(MESSAGE_TYPES);
    const a = net.chain.accounts.get(tenant)!;
    const bodyBytes = registry.encodeTxBody({
      messages: [
        {
          typeUrl: "/akash.cert.v1.MsgCreateCertificate",
          value: {
            owner: tenant,
            cert: Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
            pubkey: new Uint8Array(),
          },
        },
      ],
      memo: "",
    });
    const authInfoBytes = makeAuthInfoBytes(
      [{ pubkey: encodePubkey(encodeSecp256k1Pubkey(acc.pubkey)), sequence: BigInt(opts.sequence ?? a.checkSequence) }],
      [{ denom: "uakt", amount: "5000" }],
      200_000,
      undefined,
      undefined,
    );
    const doc = makeSignDoc(bodyBytes, authInfoBytes, opts.chainId ?? net.chain.chainId, opts.accountNumber ?? a.accountNumber);
    const { signed, signature } = await wallet.signDirect(tenant, doc);
    const sig = fromBase64(signature.signature);
    if (opts.tamper) sig[10] ^= 1;
    return toBase64(
      TxRaw.encode(TxRaw.fromPartial({ bodyBytes: signed.bodyBytes, authInfoBytes: signed.authInfoBytes, signatures: [sig] })).finish(),
    );
  }

  async function broadcast(txBytes: string) {
    const r = await fetch(`${net.restUrl}/cosmos/tx/v1beta1/txs`, {
      method: "POST",
      body: JSON.stringify({ tx_bytes: txBytes, mode: "BROADCAST_MODE_SYNC" }),
    });
    return (await r.json()).tx_response as { code: number; raw_log: string; txhash: string };
  }

  it("accepts a correctly signed tx and increments the sequence", async () => {
    const before = net.chain.accounts.get(tenant)!.checkSequence;
    const r = await broadcast(await signCert({}));
    expect(r.code).to.equal(0);
    expect(net.chain.accounts.get(tenant)!.checkSequence).to.equal(before + 1);
  });

  it("rejects a tx signed for another chain id (code 4, unauthorized)", async () => {
    const r = await broadcast(await signCert({ chainId: "akashnet-2" }));
    expect(r.code).to.equal(4);
    expect(r.raw_log).to.match(/signature verification failed.*chain-id/);
  });

  it("rejects a tx signed with the wrong account number (code 4)", async () => {
    const r = await broadcast(await signCert({ accountNumber: 99 }));
    expect(r.code).to.equal(4);
  });

  it("rejects a reused sequence (code 32, account sequence mismatch)", async () => {
    const seq = net.chain.accounts.get(tenant)!.checkSequence;
    const r = await broadcast(await signCert({ sequence: seq - 1 }));
    expect(r.code).to.equal(32);
    expect(r.raw_log).to.match(/account sequence mismatch, expected \d+, got \d+/);
  });

  it("rejects a tampered signature (code 4)", async () => {
    const r = await broadcast(await signCert({ tamper: true }));
    expect(r.code).to.equal(4);
  });

  it("the keeper's client surfaces a wrong chain id as AKASH_TX_REJECTED, not retryable", async () => {
    const c = await connectChain({
      restUrl: net.restUrl,
      chainId: "wrong-chain",
      mnemonic: TENANT_MNEMONIC,
      timeoutMs: 2_000,
      txPollMs: 10,
    });
    const err = await c.sdk.akash.cert.v1
      .createCertificate({
        owner: tenant,
        cert: Buffer.from("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----"),
        pubkey: new Uint8Array(),
      })
      .then(
        () => undefined,
        (e) => e,
      );
    expect(err?.code).to.equal("AKASH_TX_REJECTED");
    expect(err?.retryable).to.equal(false);
  });

  it("the keeper's client re-signs once after a sequence race (another tx got in first)", async () => {
    const c = await connectChain({
      restUrl: net.restUrl,
      chainId: net.chain.chainId,
      mnemonic: TENANT_MNEMONIC,
      timeoutMs: 2_000,
      txPollMs: 10,
    });
    // A tx from elsewhere takes the next sequence between the keeper's account read and its broadcast.
    const original = c.tx.account.bind(c.tx);
    let raced = false;
    c.tx.account = async () => {
      const a = await original();
      if (!raced) {
        raced = true;
        expect((await broadcast(await signCert({}))).code).to.equal(0);
      }
      return a;
    };
    const res = await c.sdk.akash.cert.v1.createCertificate({
      owner: tenant,
      cert: Buffer.from("-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----"),
      pubkey: new Uint8Array(),
    });
    expect(res).to.not.equal(undefined);
    expect(net.chain.log.filter((l) => l.code === 32).length).to.be.greaterThan(0);
  });
});
