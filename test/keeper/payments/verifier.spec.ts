/**
 * Who a WATT transfer belongs to (keeper/payments/verifier.ts inspectPayment): the authorities of the
 * transfers into the service, including a multisig authority's signers, never the fee payer alone.
 */
import { expect } from "chai";
import { Keypair, PublicKey, type ParsedTransactionWithMeta } from "@solana/web3.js";
import { inspectPayment, TOKEN_PROGRAM } from "../../../keeper/payments/verifier";

const key = () => Keypair.generate().publicKey.toBase58();
const MEMO = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";

function tx(
  feePayer: string,
  service: string,
  mint: string,
  transfers: Record<string, unknown>[],
  memo = "job-1",
): ParsedTransactionWithMeta {
  const total = transfers.reduce((s, t) => s + BigInt((t.tokenAmount as { amount: string }).amount), 0n);
  const ui = (a: bigint) => ({ amount: a.toString(), decimals: 9, uiAmount: Number(a), uiAmountString: a.toString() });
  return {
    slot: 5,
    blockTime: 1,
    meta: {
      err: null,
      fee: 5000,
      preBalances: [],
      postBalances: [],
      preTokenBalances: [{ accountIndex: 1, mint, uiTokenAmount: ui(0n) }],
      postTokenBalances: [{ accountIndex: 1, mint, uiTokenAmount: ui(total) }],
      innerInstructions: [],
    },
    transaction: {
      signatures: ["x"],
      message: {
        accountKeys: [
          { pubkey: new PublicKey(feePayer), signer: true, writable: true },
          { pubkey: new PublicKey(service), signer: false, writable: true },
        ],
        recentBlockhash: "11111111111111111111111111111111",
        instructions: [
          ...transfers.map((info) => ({
            program: "spl-token",
            programId: new PublicKey(TOKEN_PROGRAM),
            parsed: { type: "transferChecked", info },
          })),
          { program: "spl-memo", programId: new PublicKey(MEMO), parsed: memo },
        ],
      },
    },
  } as unknown as ParsedTransactionWithMeta;
}

describe("the payer of a WATT transfer", () => {
  const mint = key();
  const service = key();
  const s = { mint: new PublicKey(mint), serviceTokenAccount: new PublicKey(service) };
  const amount = (a: bigint) => ({ amount: a.toString(), decimals: 9, uiAmount: Number(a), uiAmountString: a.toString() });

  it("a single-owner transfer: its authority, not the fee payer", () => {
    const owner = key();
    const fee = key();
    const v = inspectPayment(
      tx(fee, service, mint, [{ source: key(), mint, destination: service, authority: owner, tokenAmount: amount(100n) }]),
      "sig",
      "job-1",
      s,
    );
    expect(v.authorities).to.deep.equal([owner]);
    expect(v.authorities).to.not.include(fee);
  });

  it("a multisig authority: the multisig and each of its signers", () => {
    const [m, s1, s2] = [key(), key(), key()];
    const v = inspectPayment(
      tx(key(), service, mint, [
        { source: key(), mint, destination: service, multisigAuthority: m, signers: [s1, s2], tokenAmount: amount(100n) },
      ]),
      "sig",
      "job-1",
      s,
    );
    expect(v.authorities).to.have.members([m, s1, s2]);
  });

  it("several transfers in one transaction: only a key that is an authority of every one of them", () => {
    const [a, b, m] = [key(), key(), key()];
    const v = inspectPayment(
      tx(key(), service, mint, [
        { source: key(), mint, destination: service, multisigAuthority: m, signers: [a, b], tokenAmount: amount(60n) },
        { source: key(), mint, destination: service, authority: a, tokenAmount: amount(40n) },
      ]),
      "sig",
      "job-1",
      s,
    );
    expect(v.amount).to.equal(100n);
    expect(v.authorities).to.deep.equal([a]);
  });
});
