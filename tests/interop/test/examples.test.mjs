// The worked examples of examples/ (their READMEs walk through the same steps), deployed
// confidentially and used through the JS SDK's viem helpers against a real node:
// - the sealed-bid second-price auction: no bid is readable before the close (storage refused,
//   no public logs, the same gas for every bid), each bidder reads only its own bid with a
//   signed query, the close publishes winner and price, losers get their deposits back;
// - the private ballot: members vote, nobody reads a vote, the same gas whatever the choice,
//   the tally is published when voting ends.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEventLog, parseEther, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, loadArtifact, devAccount, sleep } from '../lib/util.mjs';
import { attestedServiceIdentity } from '../../../sdk/js/src/index.mjs';
import { confidential } from '../../../sdk/js/src/viem.mjs';

const ZERO = '0x0000000000000000000000000000000000000000';

function errorName(err) {
  const cause = err?.walk?.((e) => e.name === 'ContractFunctionRevertedError');
  assert.ok(cause, `expected a contract revert, got: ${err}`);
  return cause.data?.errorName;
}

/**
 * Gas the execution used: gasUsed minus the intrinsic 21,000 and the calldata cost of the
 * envelope, whose random ciphertext bytes cost 4 (zero) or 16 gas each — noise, not signal.
 */
async function executionGas(publicClient, receipt) {
  const tx = await publicClient.getTransaction({ hash: receipt.transactionHash });
  const bytes = Buffer.from(tx.input.slice(2), 'hex');
  const calldata = [...bytes].reduce((g, b) => g + (b === 0 ? 4n : 16n), 0n);
  return receipt.gasUsed - 21_000n - calldata;
}

async function untilTimestamp(publicClient, t) {
  while (BigInt(Math.floor(Date.now() / 1000)) < t) await sleep(100);
}

describe('examples/', () => {
  let node, v, identity;
  const as = (i) => confidential({ publicClient: v.publicClient, walletClient: v.wallet(i), serviceIdentity: identity });
  before(async () => {
    node = await startNode();
    v = viemClients(node);
    identity = await attestedServiceIdentity(node.url);
  });
  after(async () => {
    await node?.destroy();
  });

  it('sealed-bid auction: bids stay sealed, the close publishes winner and second price', async () => {
    const art = loadArtifact('SealedBidAuction');
    const deposit = parseEther('10');
    const closesAt = BigInt(Math.floor(Date.now() / 1000) + 5);
    const seller = as(0);
    const { address: auction } = await seller.deployContract({ abi: art.abi, bytecode: art.bytecode, args: [closesAt, deposit, parseEther('1')] });

    const bids = { 1: parseEther('5'), 2: parseEther('9'), 3: parseEther('7') };
    const gasUsed = [];
    for (const [i, amount] of Object.entries(bids)) {
      const w = await as(Number(i)).writeContract({ address: auction, abi: art.abi, functionName: 'bid', args: [amount], value: deposit });
      assert.equal(w.receipt.logs.length, 0, 'no public trace of the bid');
      assert.equal(w.logs[0].eventName, 'BidPlaced', 'the bidder alone sees its BidPlaced');
      assert.equal(w.logs[0].args.amount, amount);
      gasUsed.push(await executionGas(v.publicClient, w.receipt));
    }
    assert.equal(new Set(gasUsed).size, 1, `every bid costs the same gas: ${gasUsed}`);

    // Nobody reads a bid: storage is refused, unsigned reads run as sender zero, each bidder
    // sees only its own.
    await assert.rejects(v.publicClient.getStorageAt({ address: auction, slot: toHex(0, { size: 32 }) }), /eth_getStorageAt is not available/);
    assert.equal(errorName(await as(1).readContract({ address: auction, abi: art.abi, functionName: 'myBid', signed: false }).catch((e) => e)), 'SenderRequired');
    for (const [i, amount] of Object.entries(bids)) {
      assert.equal(await as(Number(i)).readContract({ address: auction, abi: art.abi, functionName: 'myBid' }), amount);
    }
    assert.equal(await as(4).readContract({ address: auction, abi: art.abi, functionName: 'myBid' }), 0n);
    assert.equal(errorName(await as(1).writeContract({ address: auction, abi: art.abi, functionName: 'bid', args: [1n], value: deposit }).catch((e) => e)), 'AlreadyBid');
    assert.equal(errorName(await as(4).writeContract({ address: auction, abi: art.abi, functionName: 'close' }).catch((e) => e)), 'BiddingOpen');
    assert.equal(await v.publicClient.readContract({ address: auction, abi: art.abi, functionName: 'winner' }), ZERO);

    // After closesAt: anyone closes; the outcome is public, losing bids are not.
    await untilTimestamp(v.publicClient, closesAt);
    assert.equal(errorName(await as(4).writeContract({ address: auction, abi: art.abi, functionName: 'bid', args: [1n], value: deposit }).catch((e) => e)), 'BiddingClosed');
    const closed = await as(4).writeContract({ address: auction, abi: art.abi, functionName: 'close' });
    assert.equal(closed.receipt.logs.length, 1, 'one public log: AuctionClosed');
    const ev = decodeEventLog({ abi: art.abi, ...closed.receipt.logs[0] });
    assert.equal(ev.eventName, 'AuctionClosed');
    assert.deepEqual([ev.args.winner, ev.args.price, ev.args.bidders], [devAccount(2).address, bids[3], 3n]);
    const logs = await v.publicClient.getLogs({ address: auction, fromBlock: 0n });
    assert.equal(logs.length, 1, 'the whole public history of the auction is its outcome');
    assert.equal(await v.publicClient.readContract({ address: auction, abi: art.abi, functionName: 'price' }), bids[3]);

    // Payouts: a loser takes the whole deposit back, the winner the deposit minus the price.
    const balance = (i) => v.publicClient.getBalance({ address: devAccount(i).address });
    for (const [i, expected] of [[1, deposit], [2, deposit - bids[3]], [0, bids[3]]]) {
      const before = await balance(i);
      const w = await as(i).writeContract({ address: auction, abi: art.abi, functionName: 'withdraw' });
      const fee = w.receipt.gasUsed * w.receipt.effectiveGasPrice;
      assert.equal((await balance(i)) - before + fee, expected, `account #${i} withdraws ${expected}`);
    }
  });

  it('private ballot: votes stay private, the tally is published at the end', async () => {
    const art = loadArtifact('PrivateBallot');
    const closesAt = BigInt(Math.floor(Date.now() / 1000) + 5);
    const members = [1, 2, 3, 4].map((i) => devAccount(i).address);
    const { address: ballot } = await as(0).deployContract({ abi: art.abi, bytecode: art.bytecode, args: [members, 3n, closesAt] });

    const votes = { 1: 2n, 2: 0n, 3: 2n };
    const gasUsed = [];
    for (const [i, option] of Object.entries(votes)) {
      const w = await as(Number(i)).writeContract({ address: ballot, abi: art.abi, functionName: 'vote', args: [option] });
      assert.equal(w.receipt.logs.length, 0);
      assert.deepEqual([w.logs[0].eventName, w.logs[0].args.option], ['Voted', option]);
      gasUsed.push(await executionGas(v.publicClient, w.receipt));
    }
    assert.equal(new Set(gasUsed).size, 1, `every vote costs the same gas whatever the choice: ${gasUsed}`);
    assert.deepEqual(await as(1).readContract({ address: ballot, abi: art.abi, functionName: 'myVote' }), [true, 2n]);
    assert.deepEqual(await as(4).readContract({ address: ballot, abi: art.abi, functionName: 'myVote' }), [false, 0n]);
    assert.equal(errorName(await as(2).writeContract({ address: ballot, abi: art.abi, functionName: 'vote', args: [1n] }).catch((e) => e)), 'AlreadyVoted');
    assert.equal(errorName(await as(5).writeContract({ address: ballot, abi: art.abi, functionName: 'vote', args: [1n] }).catch((e) => e)), 'NotMember');
    assert.equal(errorName(await as(4).writeContract({ address: ballot, abi: art.abi, functionName: 'vote', args: [3n] }).catch((e) => e)), 'NoSuchOption');
    assert.equal(errorName(await as(0).readContract({ address: ballot, abi: art.abi, functionName: 'results' }).catch((e) => e)), 'VotingOpen');
    assert.equal(errorName(await as(0).writeContract({ address: ballot, abi: art.abi, functionName: 'end' }).catch((e) => e)), 'VotingOpen');
    await assert.rejects(v.publicClient.getStorageAt({ address: ballot, slot: toHex(2, { size: 32 }) }), /eth_getStorageAt is not available/);

    await untilTimestamp(v.publicClient, closesAt);
    assert.equal(errorName(await as(4).writeContract({ address: ballot, abi: art.abi, functionName: 'vote', args: [1n] }).catch((e) => e)), 'VotingClosed');
    const ended = await as(0).writeContract({ address: ballot, abi: art.abi, functionName: 'end' });
    const ev = decodeEventLog({ abi: art.abi, ...ended.receipt.logs[0] });
    assert.deepEqual([ev.eventName, ev.args.counts], ['Tallied', [1n, 0n, 2n]]);
    assert.deepEqual(await v.publicClient.readContract({ address: ballot, abi: art.abi, functionName: 'results' }), [1n, 0n, 2n]);
  });
});
