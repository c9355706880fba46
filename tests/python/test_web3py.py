"""web3.py against a real `txnchain dev` (see conftest.py for the node).

The whole module shares one node. Tests create what they check (fresh recipients, their own
token deployment where the exact state matters) so that they pass in any order; the one that
uses evm_snapshot/evm_revert reverts only what it did itself.
"""

from __future__ import annotations

import asyncio

import pytest
import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.utils.subscriptions import LogsSubscription, NewHeadsSubscription, PendingTxSubscription

from conftest import CHAIN_ID, DEV_ADDRESSES, DEV_BALANCE

GWEI = 10**9
BASE_FEE = 1 * GWEI  # the dev chain's fixed base fee
TOKEN_SUPPLY = 10**24
SLOTS_MAPPING_SLOT = 5  # TestToken storage layout: name 0, symbol 1, totalSupply 2,
BALANCES_MAPPING_SLOT = 3  # balanceOf 3, allowance 4, slots 5 (see the artifact's storageLayout)
EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
WS_TIMEOUT_S = 15


def fresh_address() -> str:
    """A random address that holds nothing."""
    return Account.create().address


def mapping_slot(key: bytes | int | str, slot: int) -> bytes:
    """Storage slot of `mapping[key]` for a mapping at `slot` (value types)."""
    if isinstance(key, str):  # address
        key_word = abi_encode(["address"], [key])
    else:
        key_word = abi_encode(["uint256"], [key])
    return keccak(key_word + abi_encode(["uint256"], [slot]))


def hex_to_int(value: str) -> int:
    return int(value, 16)


@pytest.fixture(scope="module")
def token(w3, token_artifact):
    """A TestToken deployed by accounts[0] with constructor(...).transact()."""
    Token = w3.eth.contract(abi=token_artifact["abi"], bytecode=token_artifact["bytecode"])
    tx_hash = Token.constructor("Test Token", "TT", TOKEN_SUPPLY).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    assert receipt.contractAddress is not None
    return w3.eth.contract(address=receipt.contractAddress, abi=token_artifact["abi"])


# ---------------------------------------------------------------- connection and accounts


def test_connection(w3):
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    version = w3.client_version
    assert version.startswith("txnchain/v"), version
    number = w3.eth.block_number
    assert isinstance(number, int) and number >= 0
    latest = w3.eth.get_block("latest")
    assert latest.number >= number
    assert w3.eth.get_block(latest.number).hash == latest.hash
    genesis = w3.eth.get_block(0)
    assert genesis.number == 0 and genesis.parentHash == HexBytes(b"\x00" * 32)
    assert latest.baseFeePerGas == BASE_FEE
    assert w3.eth.gas_price >= BASE_FEE
    assert w3.eth.syncing is False


def test_accounts_are_the_mnemonic_accounts(w3, dev_accounts):
    assert w3.eth.accounts == DEV_ADDRESSES
    assert [a.address for a in dev_accounts] == DEV_ADDRESSES
    # from_key of a key derived the same way gives the same account
    assert Account.from_key(dev_accounts[3].key).address == DEV_ADDRESSES[3]


def test_balances(w3):
    for address in DEV_ADDRESSES:
        assert w3.eth.get_balance(address, block_identifier=0) == DEV_BALANCE
        assert w3.eth.get_transaction_count(address, block_identifier=0) == 0
    # nobody sends from the last account in this suite
    assert w3.eth.get_balance(DEV_ADDRESSES[9]) == DEV_BALANCE
    assert w3.eth.get_balance(fresh_address()) == 0


# ---------------------------------------------------------------- transfers


def _assert_paid(w3, receipt, sender, before, value):
    after = w3.eth.get_balance(sender, block_identifier=receipt.blockNumber)
    assert before - after == value + receipt.gasUsed * receipt.effectiveGasPrice


def test_signed_eip1559_transfer(w3, dev_accounts):
    sender = dev_accounts[1]
    to = fresh_address()
    value = Web3.to_wei(1.25, "ether")
    nonce = w3.eth.get_transaction_count(sender.address)
    before = w3.eth.get_balance(sender.address)
    tx = {
        "type": 2,
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 3 * GWEI,
        "maxPriorityFeePerGas": 1 * GWEI,
    }
    signed = sender.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == keccak(signed.raw_transaction) == signed.hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    assert receipt.type == 2
    assert receipt["from"] == sender.address and receipt.to == to
    assert receipt.gasUsed == 21_000
    assert receipt.effectiveGasPrice == BASE_FEE + 1 * GWEI  # min(maxFee, baseFee + tip)
    assert receipt.logs == []
    assert w3.eth.get_balance(to) == value
    assert w3.eth.get_transaction_count(sender.address) == nonce + 1
    _assert_paid(w3, receipt, sender.address, before, value)

    mined = w3.eth.get_transaction(tx_hash)
    assert mined.hash == tx_hash
    assert mined["from"] == sender.address and mined.to == to
    assert mined.value == value and mined.nonce == nonce and mined.gas == 21_000
    assert mined.maxFeePerGas == 3 * GWEI and mined.maxPriorityFeePerGas == 1 * GWEI
    assert mined.chainId == CHAIN_ID
    assert mined.blockNumber == receipt.blockNumber and mined.blockHash == receipt.blockHash
    block = w3.eth.get_block(receipt.blockNumber)
    assert tx_hash in block.transactions
    # the signature recovers to the sender
    assert Account.recover_transaction(w3.eth.get_raw_transaction(tx_hash)) == sender.address


def test_signed_legacy_eip155_transfer(w3, dev_accounts):
    sender = dev_accounts[2]
    to = fresh_address()
    before = w3.eth.get_balance(sender.address)
    tx = {
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "to": to,
        "value": 12345,
        "gas": 21_000,
        "gasPrice": 2 * GWEI,
    }
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert receipt.status == 1 and receipt.type == 0
    assert receipt.effectiveGasPrice == 2 * GWEI
    assert w3.eth.get_balance(to) == 12345
    _assert_paid(w3, receipt, sender.address, before, 12345)
    mined = w3.eth.get_transaction(signed.hash)
    assert mined.v in (CHAIN_ID * 2 + 35, CHAIN_ID * 2 + 36)  # EIP-155


def test_node_signed_send_transaction(w3):
    sender = w3.eth.accounts[0]
    to = fresh_address()
    before = w3.eth.get_balance(sender)
    nonce = w3.eth.get_transaction_count(sender)
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to, "value": 777})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    assert receipt["from"] == sender and receipt.to == to
    assert receipt.gasUsed == 21_000
    assert w3.eth.get_balance(to) == 777
    assert w3.eth.get_transaction_count(sender) == nonce + 1
    _assert_paid(w3, receipt, sender, before, 777)
    mined = w3.eth.get_transaction(tx_hash)
    assert mined.nonce == nonce and mined.value == 777
    assert Account.recover_transaction(w3.eth.get_raw_transaction(tx_hash)) == sender


def test_node_signs_messages(w3, dev_accounts):
    """eth_sign (w3.eth.sign) and eth_signTypedData_v4 give the signatures eth_account makes."""
    local = dev_accounts[0]
    signed = w3.eth.sign(local.address, text="hello txnchain")
    assert signed == local.sign_message(encode_defunct(text="hello txnchain")).signature
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Mail": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        },
        "primaryType": "Mail",
        "domain": {"name": "web3py", "chainId": CHAIN_ID},
        "message": {"to": DEV_ADDRESSES[1], "amount": 7},
    }
    response = w3.provider.make_request("eth_signTypedData_v4", [local.address, typed])
    assert "error" not in response, response
    assert HexBytes(response["result"]) == local.sign_typed_data(full_message=typed).signature


def test_batch_requests(w3):
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block(0))
        batch.add(w3.eth.get_balance(DEV_ADDRESSES[9], 0))
        batch.add(w3.eth.get_transaction_count(DEV_ADDRESSES[9], 0))
        genesis, balance, nonce = batch.execute()
    assert genesis.number == 0 and genesis.hash == w3.eth.get_block(0).hash
    assert balance == DEV_BALANCE and nonce == 0


def test_call_with_state_override(w3):
    """eth_call's third parameter: code and balance put in place for the call only."""
    target = fresh_address()
    # returns SELFBALANCE as a 32-byte word: SELFBALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = "0x4760005260206000f3"
    result = w3.eth.call({"to": target, "data": "0x"}, "latest", {target: {"code": code, "balance": 12345}})
    assert int.from_bytes(result, "big") == 12345
    assert w3.eth.get_code(target) == HexBytes(b"") and w3.eth.get_balance(target) == 0
    # eth_estimateGas takes the same override
    rich = fresh_address()
    assert w3.eth.estimate_gas({"from": rich, "to": target, "value": 10**18}, None, {rich: {"balance": 2 * 10**18}}) == 21_000


def test_get_raw_transaction_by_block(w3, dev_accounts):
    sender = dev_accounts[7]
    signed = sender.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address),
            "to": fresh_address(),
            "value": 1,
            "gas": 21_000,
            "gasPrice": 2 * GWEI,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert w3.eth.get_raw_transaction(signed.hash) == HexBytes(signed.raw_transaction)
    raw = w3.eth.get_raw_transaction_by_block(receipt.blockNumber, receipt.transactionIndex)
    assert raw == HexBytes(signed.raw_transaction)
    assert w3.eth.get_raw_transaction_by_block(receipt.blockHash, receipt.transactionIndex) == raw


def test_sign_and_send_raw_middleware(url, dev_accounts):
    """web3's signing middleware turns send_transaction from a LocalAccount into a raw send."""
    w3 = Web3(Web3.HTTPProvider(url))
    local = dev_accounts[4]
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(local), layer=0)
    to = fresh_address()
    tx_hash = w3.eth.send_transaction({"from": local.address, "to": to, "value": 5})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1 and receipt["from"] == local.address
    assert w3.eth.get_balance(to) == 5


# ---------------------------------------------------------------- contracts


def test_deploy_with_build_transaction_and_sign(w3, dev_accounts, token_artifact):
    deployer = dev_accounts[5]
    Token = w3.eth.contract(abi=token_artifact["abi"], bytecode=token_artifact["bytecode"])
    nonce = w3.eth.get_transaction_count(deployer.address)
    tx = Token.constructor("Signed Token", "SGN", 4242).build_transaction(
        {"from": deployer.address, "nonce": nonce, "chainId": CHAIN_ID}
    )
    assert tx["gas"] > 100_000  # estimated by the node
    signed = deployer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert receipt.status == 1
    assert receipt.to is None
    expected = to_checksum_address(keccak(rlp.encode([HexBytes(deployer.address), nonce]))[12:])
    assert receipt.contractAddress == expected
    assert w3.eth.get_code(expected) == HexBytes(token_artifact["deployedBytecode"])
    token = w3.eth.contract(address=expected, abi=token_artifact["abi"])
    assert token.functions.name().call() == "Signed Token"
    assert token.functions.symbol().call() == "SGN"
    assert token.functions.balanceOf(deployer.address).call() == 4242
    # the constructor's mint is the deployment's only log
    (mint,) = token.events.Transfer().process_receipt(receipt)
    assert mint.args["from"] == "0x" + "00" * 20
    assert mint.args.to == deployer.address and mint.args.value == 4242


def test_token_calls(w3, token):
    deployer = w3.eth.accounts[0]
    assert token.functions.name().call() == "Test Token"
    assert token.functions.symbol().call() == "TT"
    assert token.functions.decimals().call() == 18
    assert token.functions.totalSupply().call() == TOKEN_SUPPLY
    assert token.functions.balanceOf(deployer).call() >= 0
    assert token.functions.balanceOf(fresh_address()).call() == 0
    # a call at an explicit block and from an explicit sender
    deploy_block = w3.eth.block_number
    assert token.functions.totalSupply().call(block_identifier=deploy_block) == TOKEN_SUPPLY
    assert token.functions.getSlot(1).call({"from": DEV_ADDRESSES[9]}) == 0


def test_transact_and_events(w3, token):
    sender = w3.eth.accounts[0]
    alice, bob = fresh_address(), fresh_address()
    start = w3.eth.block_number + 1
    log_filter = token.events.Transfer.create_filter(from_block=start)
    to_alice = token.events.Transfer.create_filter(from_block=start, argument_filters={"to": alice})
    block_filter = w3.eth.filter("latest")
    sender_before = token.functions.balanceOf(sender).call()

    h1 = token.functions.transfer(alice, 1000).transact({"from": sender})
    r1 = w3.eth.wait_for_transaction_receipt(h1, timeout=30)
    assert r1.status == 1
    (ev,) = token.events.Transfer().process_receipt(r1)
    assert ev.event == "Transfer"
    assert ev.args["from"] == sender and ev.args.to == alice and ev.args.value == 1000
    assert ev.address == token.address
    assert ev.transactionHash == h1 and ev.blockNumber == r1.blockNumber and ev.blockHash == r1.blockHash
    assert ev.logIndex == 0 and ev.transactionIndex == r1.transactionIndex
    raw_log = r1.logs[0]
    assert raw_log.topics[0] == HexBytes(TRANSFER_TOPIC)
    assert raw_log.topics[1] == HexBytes(abi_encode(["address"], [sender]))
    assert raw_log.data == HexBytes(abi_encode(["uint256"], [1000]))
    assert token.functions.balanceOf(alice).call() == 1000
    assert token.functions.balanceOf(sender).call() == sender_before - 1000

    first = log_filter.get_new_entries()
    assert [(e.transactionHash, e.args.value) for e in first] == [(h1, 1000)]
    assert log_filter.get_new_entries() == []  # nothing new since

    h2 = token.functions.transfer(bob, 2000).transact({"from": sender})
    r2 = w3.eth.wait_for_transaction_receipt(h2, timeout=30)
    assert r2.blockNumber > r1.blockNumber

    new = log_filter.get_new_entries()
    assert [(e.transactionHash, e.args.to, e.args.value) for e in new] == [(h2, bob, 2000)]
    everything = log_filter.get_all_entries()
    assert [(e.transactionHash, e.args.value) for e in everything] == [(h1, 1000), (h2, 2000)]
    assert [e.transactionHash for e in to_alice.get_all_entries()] == [h1]
    # the block filter saw (at least) the two blocks holding the transfers
    seen_blocks = block_filter.get_new_entries()
    assert r1.blockHash in seen_blocks and r2.blockHash in seen_blocks

    # eth_getLogs through the contract event API, with an indexed-argument filter
    logs = token.events.Transfer().get_logs(from_block=start, to_block=r2.blockNumber)
    assert [(e.transactionHash, e.args.value) for e in logs] == [(h1, 1000), (h2, 2000)]
    only_bob = token.events.Transfer().get_logs(from_block=start, argument_filters={"to": bob})
    assert [e.transactionHash for e in only_bob] == [h2]
    by_hash = token.events.Transfer().get_logs(block_hash=r2.blockHash)
    assert [e.transactionHash for e in by_hash] == [h2]
    # and raw eth_getLogs
    raw = w3.eth.get_logs(
        {"fromBlock": start, "toBlock": "latest", "address": token.address, "topics": [TRANSFER_TOPIC.hex()]}
    )
    assert [(l.transactionHash, l.blockNumber) for l in raw] == [(h1, r1.blockNumber), (h2, r2.blockNumber)]

    for f in (log_filter, to_alice, block_filter):
        assert w3.eth.uninstall_filter(f.filter_id) is True
    assert w3.eth.uninstall_filter(log_filter.filter_id) is False


def test_many_events_in_one_transaction(w3, token):
    receipt = w3.eth.wait_for_transaction_receipt(
        token.functions.emitMany(5).transact({"from": w3.eth.accounts[0]}), timeout=30
    )
    pings = token.events.Ping().process_receipt(receipt)
    assert [p.args.index for p in pings] == [0, 1, 2, 3, 4]
    assert [p.logIndex for p in pings] == [0, 1, 2, 3, 4]
    assert all(p.args.sender == w3.eth.accounts[0] for p in pings)
    assert [p.args.data for p in pings] == [keccak(abi_encode(["uint256"], [i])) for i in range(5)]


def test_revert_reasons(w3, token):
    sender = w3.eth.accounts[0]
    with pytest.raises(ContractLogicError) as exc:
        token.functions.failWithReason().call()
    assert "TestToken: always fails" in str(exc.value)
    assert exc.value.message == "execution reverted: TestToken: always fails"
    error_selector = keccak(text="Error(string)")[:4]
    assert HexBytes(exc.value.data)[:4] == error_selector

    # the same through estimate_gas (which transact() runs first)
    with pytest.raises(ContractLogicError, match="TestToken: always fails"):
        token.functions.failWithReason().transact({"from": sender})

    # require(...) in a state-changing call
    with pytest.raises(ContractLogicError, match="ERC20: transfer to the zero address"):
        token.functions.transfer("0x" + "00" * 20, 1).call({"from": sender})

    # a custom error comes back with its data
    with pytest.raises(ContractCustomError) as custom:
        token.functions.failWithCustomError(99).call({"from": sender})
    selector = keccak(text="InsufficientBalance(address,uint256,uint256)")[:4]
    assert HexBytes(custom.value.data) == HexBytes(selector + abi_encode(["address", "uint256", "uint256"], [sender, 0, 99]))

    # Panic(0x12): division by zero
    with pytest.raises(ContractPanicError, match="Panic error 0x12: Division by zero") as panic:
        token.functions.failWithPanic(0).call()
    assert HexBytes(panic.value.data) == HexBytes(keccak(text="Panic(uint256)")[:4] + abi_encode(["uint256"], [0x12]))

    # a transaction that reverts on chain (gas given, so no estimate): status 0
    tx_hash = token.functions.failWithReason().transact({"from": sender, "gas": 100_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 0
    assert receipt.logs == []


def test_debug_trace_transaction(w3, token):
    sender = w3.eth.accounts[0]
    to = fresh_address()
    tx_hash = token.functions.transfer(to, 31337).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    tx = w3.eth.get_transaction(tx_hash)

    response = w3.provider.make_request("debug_traceTransaction", [tx_hash.to_0x_hex(), {"tracer": "callTracer"}])
    assert "error" not in response, response
    trace = response["result"]
    assert trace["type"] == "CALL"
    assert to_checksum_address(trace["from"]) == sender
    assert to_checksum_address(trace["to"]) == token.address
    assert HexBytes(trace["input"]) == tx.input
    assert HexBytes(trace["output"]) == HexBytes(abi_encode(["bool"], [True]))
    # the top frame's gas: the gas limit (geth 1.14+) or what is left after the intrinsic
    # gas (anvil, older geth)
    calldata = bytes(tx.input)
    intrinsic = 21_000 + sum(16 if b else 4 for b in calldata)
    assert hex_to_int(trace["gas"]) in (tx.gas, tx.gas - intrinsic)
    assert hex_to_int(trace["gasUsed"]) == receipt.gasUsed
    assert hex_to_int(trace.get("value", "0x0")) == 0
    assert "error" not in trace
    assert not trace.get("calls")

    # web3's wrapper for the same method
    via_api = w3.geth.debug.trace_transaction(tx_hash, {"tracer": "callTracer"})
    assert via_api["type"] == "CALL"
    assert via_api["gasUsed"] == receipt.gasUsed
    assert HexBytes(via_api["input"]) == tx.input
    assert to_checksum_address(via_api["to"]) == token.address

    # a reverted transaction's frame carries the error and the reason
    failed = token.functions.failWithReason().transact({"from": sender, "gas": 100_000})
    assert w3.eth.wait_for_transaction_receipt(failed, timeout=30).status == 0
    ftrace = w3.provider.make_request("debug_traceTransaction", [failed.to_0x_hex(), {"tracer": "callTracer"}])["result"]
    assert ftrace["error"] == "execution reverted"
    assert ftrace.get("revertReason") == "TestToken: always fails"
    assert HexBytes(ftrace["output"])[:4] == keccak(text="Error(string)")[:4]

    # the default (struct logger) tracer: opcodes ending in RETURN
    struct = w3.provider.make_request("debug_traceTransaction", [tx_hash.to_0x_hex(), {"disableStorage": True}])["result"]
    assert struct["failed"] is False
    assert struct["gas"] == receipt.gasUsed
    assert HexBytes(struct["returnValue"]) == HexBytes(abi_encode(["bool"], [True]))
    ops = [log["op"] for log in struct["structLogs"]]
    assert "SSTORE" in ops and "LOG3" in ops and ops[-1] == "RETURN"


# ---------------------------------------------------------------- proofs


def _nibbles(data: bytes) -> list[int]:
    out = []
    for b in data:
        out += [b >> 4, b & 0x0F]
    return out


def mpt_get(root: bytes, key: bytes, proof: list) -> bytes | None:
    """Looks `keccak(key)` up in a Merkle-Patricia trie given by `proof` (EIP-1186).

    Returns the value, None for a valid exclusion proof; raises AssertionError for a proof
    that does not hang together.
    """
    nodes = {keccak(HexBytes(n)): rlp.decode(HexBytes(n)) for n in proof}
    path = _nibbles(keccak(key))
    pos = 0
    ref: bytes | list = bytes(root)
    while True:
        if isinstance(ref, list):  # node embedded in its parent (shorter than 32 bytes)
            node = ref
        else:
            if ref == EMPTY_TRIE_ROOT and ref not in nodes:
                return None
            assert ref in nodes, f"proof lacks node {ref.hex()}"
            node = nodes[ref]
        if len(node) == 17:  # branch
            if pos == len(path):
                return node[16] or None
            ref = node[path[pos]]
            pos += 1
            if ref == b"":
                return None
        elif len(node) == 2:  # extension or leaf, hex-prefix encoded path
            encoded = _nibbles(node[0])
            flag = encoded[0]
            part = encoded[2:] if flag in (0, 2) else encoded[1:]
            if flag >= 2:  # leaf
                return node[1] if path[pos:] == part else None
            if path[pos : pos + len(part)] != part:
                return None
            pos += len(part)
            ref = node[1]
        else:
            raise AssertionError(f"bad trie node {node!r}")


def _int_from_rlp(value: bytes) -> int:
    return int.from_bytes(value, "big")


def test_get_proof_contract(w3, token):
    key, value = 7, 0xDEADBEEF
    receipt = w3.eth.wait_for_transaction_receipt(
        token.functions.setSlot(key, value).transact({"from": w3.eth.accounts[0]}), timeout=30
    )
    number = receipt.blockNumber
    slot = mapping_slot(key, SLOTS_MAPPING_SLOT)
    holder_slot = mapping_slot(w3.eth.accounts[0], BALANCES_MAPPING_SLOT)
    missing_slot = mapping_slot(123456, SLOTS_MAPPING_SLOT)
    proof = w3.eth.get_proof(token.address, [slot, holder_slot, missing_slot], number)

    assert proof.address == token.address
    assert proof.balance == w3.eth.get_balance(token.address, number) == 0
    assert proof.nonce == w3.eth.get_transaction_count(token.address, number) == 1  # EIP-161
    assert proof.codeHash == keccak(w3.eth.get_code(token.address, number))
    assert proof.storageHash != EMPTY_TRIE_ROOT
    values = [p.value for p in proof.storageProof]
    assert int.from_bytes(values[0], "big") == value == int.from_bytes(w3.eth.get_storage_at(token.address, slot, number), "big")
    holder_balance = token.functions.balanceOf(w3.eth.accounts[0]).call(block_identifier=number)
    assert int.from_bytes(values[1], "big") == holder_balance == int.from_bytes(w3.eth.get_storage_at(token.address, holder_slot, number), "big")
    assert int.from_bytes(values[2], "big") == 0
    assert [HexBytes(p.key).rjust(32, b"\0") for p in proof.storageProof] == [slot, holder_slot, missing_slot]

    # the proof verifies against the header's stateRoot
    state_root = w3.eth.get_block(number).stateRoot
    account = mpt_get(state_root, HexBytes(token.address), proof.accountProof)
    assert account is not None
    nonce, balance, storage_root, code_hash = rlp.decode(account)
    assert _int_from_rlp(nonce) == proof.nonce and _int_from_rlp(balance) == proof.balance
    assert storage_root == proof.storageHash and code_hash == proof.codeHash
    for p, expected in zip(proof.storageProof, [value, holder_balance, None]):
        stored = mpt_get(proof.storageHash, HexBytes(p.key).rjust(32, b"\0"), p.proof)
        if expected is None:
            assert stored is None
        else:
            assert _int_from_rlp(rlp.decode(stored)) == expected


def test_get_proof_accounts(w3):
    number = w3.eth.block_number
    state_root = w3.eth.get_block(number).stateRoot
    eoa = DEV_ADDRESSES[9]
    proof = w3.eth.get_proof(eoa, [], number)
    assert proof.balance == w3.eth.get_balance(eoa, number) == DEV_BALANCE
    assert proof.nonce == w3.eth.get_transaction_count(eoa, number) == 0
    assert proof.codeHash == EMPTY_CODE_HASH and proof.storageHash == EMPTY_TRIE_ROOT
    account = rlp.decode(mpt_get(state_root, HexBytes(eoa), proof.accountProof))
    assert [_int_from_rlp(account[0]), _int_from_rlp(account[1])] == [0, DEV_BALANCE]
    assert account[2] == EMPTY_TRIE_ROOT and account[3] == EMPTY_CODE_HASH

    # an account that does not exist: an exclusion proof
    nobody = fresh_address()
    absent = w3.eth.get_proof(nobody, [HexBytes(b"\0" * 32)], number)
    assert absent.balance == 0 and absent.nonce == 0
    assert int.from_bytes(absent.storageProof[0].value, "big") == 0
    assert mpt_get(state_root, HexBytes(nobody), absent.accountProof) is None


# ---------------------------------------------------------------- gas and fees


def test_fee_history(w3):
    w3.provider.make_request("anvil_mine", ["0x4"])  # at least 5 blocks (0..4) exist
    newest = w3.eth.block_number
    history = w3.eth.fee_history(4, newest, [25, 75])
    assert history.oldestBlock == newest - 3
    assert len(history.baseFeePerGas) == 5  # the four blocks and the next one
    assert all(fee == BASE_FEE for fee in history.baseFeePerGas)
    assert len(history.gasUsedRatio) == 4
    assert len(history.reward) == 4 and all(len(r) == 2 for r in history.reward)
    for i, ratio in enumerate(history.gasUsedRatio):
        block = w3.eth.get_block(newest - 3 + i)
        assert ratio == pytest.approx(block.gasUsed / block.gasLimit)
    # 'latest' is the same as the latest number
    assert w3.eth.fee_history(1, "latest").oldestBlock == w3.eth.block_number
    assert w3.eth.max_priority_fee >= 0


def test_fee_history_rewards(w3, dev_accounts):
    """The reward percentiles are the tips the transactions of a block paid."""
    sender = dev_accounts[6]
    tip = 2 * GWEI
    signed = sender.sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address),
            "to": fresh_address(),
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": tip,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert len(w3.eth.get_block(receipt.blockNumber).transactions) == 1
    history = w3.eth.fee_history(1, receipt.blockNumber, [10, 50, 90])
    assert history.oldestBlock == receipt.blockNumber
    assert history.reward == [[tip, tip, tip]]


def test_estimate_gas(w3, token):
    sender = w3.eth.accounts[0]
    assert w3.eth.estimate_gas({"from": sender, "to": fresh_address(), "value": 1}) == 21_000
    to = fresh_address()
    estimate = token.functions.transfer(to, 10).estimate_gas({"from": sender})
    assert 21_000 < estimate < 100_000
    receipt = w3.eth.wait_for_transaction_receipt(
        token.functions.transfer(to, 10).transact({"from": sender, "gas": estimate}), timeout=30
    )
    assert receipt.status == 1
    assert receipt.gasUsed <= estimate
    # a transaction that cannot succeed cannot be estimated
    with pytest.raises(ContractCustomError):
        token.functions.transfer(sender, 10).estimate_gas({"from": fresh_address()})
    # more value than the balance
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        w3.eth.estimate_gas({"from": fresh_address(), "to": sender, "value": 1})


# ---------------------------------------------------------------- dev helpers


def test_snapshot_revert_and_mine(w3):
    sender = w3.eth.accounts[0]
    to = fresh_address()
    start_number = w3.eth.block_number
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]

    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": sender, "to": to, "value": 99}), timeout=30
    )
    assert w3.eth.get_balance(to) == 99
    assert w3.provider.make_request("anvil_mine", ["0x3"])["result"] is None
    assert w3.eth.block_number == receipt.blockNumber + 3

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert w3.eth.block_number == start_number
    assert w3.eth.get_balance(to) == 0
    assert w3.provider.make_request("eth_getTransactionReceipt", [receipt.transactionHash.to_0x_hex()])["result"] is None
    # a snapshot is spent by its revert
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is False


# ---------------------------------------------------------------- eth_simulateV1


def _simulate_payload(w3, token):
    sender = w3.eth.accounts[0]
    rich = fresh_address()  # exists only through the state override
    to = fresh_address()
    payload = {
        "blockStateCalls": [
            {
                "stateOverrides": {rich: {"balance": Web3.to_wei(10, "ether")}},
                "calls": [
                    {"from": rich, "to": to, "value": Web3.to_wei(1, "ether")},
                    {
                        "from": sender,
                        "to": token.address,
                        "data": token.encode_abi("transfer", [to, 5]),
                    },
                    {"from": sender, "to": token.address, "data": token.encode_abi("balanceOf", [to])},
                ],
            },
            {
                "stateOverrides": {
                    token.address: {"stateDiff": {"0x" + mapping_slot(3, SLOTS_MAPPING_SLOT).hex(): "0x" + "00" * 31 + "2a"}}
                },
                "calls": [
                    {"from": sender, "to": token.address, "data": token.encode_abi("getSlot", [3])},
                    {"from": sender, "to": token.address, "data": token.encode_abi("failWithReason", [])},
                ],
            },
        ],
        "validation": False,
    }
    return payload, rich, to


# eth_simulateV1: docs/simulate.md.
def test_simulate_v1(w3, token):
    payload, rich, to = _simulate_payload(w3, token)
    latest = w3.eth.get_block("latest")
    result = w3.eth.simulate_v1(payload, "latest")

    assert len(result) == 2
    first, second = result
    assert first.number == latest.number + 1 and second.number == latest.number + 2
    assert first.parentHash == latest.hash and second.parentHash == first.hash
    assert len(first.calls) == 3 and len(second.calls) == 2

    plain, transfer, balance = first.calls
    assert plain.status == 1 and plain.gasUsed == 21_000 and plain.returnData == HexBytes(b"")
    assert plain.logs == []
    assert transfer.status == 1
    assert transfer.returnData == HexBytes(abi_encode(["bool"], [True]))
    (log,) = transfer.logs
    assert log.address == token.address
    assert log.topics[0] == HexBytes(TRANSFER_TOPIC)
    assert log.topics[2] == HexBytes(abi_encode(["address"], [to]))
    assert log.data == HexBytes(abi_encode(["uint256"], [5]))
    # state carries over from call to call within a block
    assert balance.status == 1 and balance.returnData == HexBytes(abi_encode(["uint256"], [5]))
    assert first.gasUsed == plain.gasUsed + transfer.gasUsed + balance.gasUsed

    slot_read, failing = second.calls
    assert slot_read.status == 1 and slot_read.returnData == HexBytes(abi_encode(["uint256"], [42]))
    assert failing.status == 0
    assert failing.error["code"] == 3
    assert "execution reverted" in failing.error["message"]
    assert HexBytes(failing.returnData)[:4] == keccak(text="Error(string)")[:4]

    # nothing of it reached the chain
    assert w3.eth.block_number == latest.number
    assert w3.eth.get_balance(rich) == 0 and w3.eth.get_balance(to) == 0
    assert token.functions.balanceOf(to).call() == 0
    assert token.functions.getSlot(3).call() == 0


def test_simulate_v1_block_overrides_and_transfer_traces(w3):
    """blockOverrides (number with a gap, time) and traceTransfers' ERC-20-style ether logs."""
    sender = w3.eth.accounts[0]
    to = fresh_address()
    latest = w3.eth.get_block("latest")
    result = w3.eth.simulate_v1(
        {
            "blockStateCalls": [
                {
                    "blockOverrides": {"number": latest.number + 3, "time": latest.timestamp + 100},
                    "calls": [{"from": sender, "to": to, "value": 1000}],
                }
            ],
            "traceTransfers": True,
        },
        "latest",
    )
    # the gap is filled with empty blocks
    assert [b.number for b in result] == [latest.number + 1, latest.number + 2, latest.number + 3]
    assert [len(b.calls) for b in result] == [0, 0, 1]
    assert result[-1].timestamp == latest.timestamp + 100
    assert result[0].parentHash == latest.hash
    assert result[1].parentHash == result[0].hash and result[2].parentHash == result[1].hash
    (call,) = result[-1].calls
    assert call.status == 1 and call.gasUsed == 21_000
    (transfer,) = call.logs
    assert transfer.address == "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
    assert transfer.topics == [
        HexBytes(TRANSFER_TOPIC),
        HexBytes(abi_encode(["address"], [sender])),
        HexBytes(abi_encode(["address"], [to])),
    ]
    assert int.from_bytes(transfer.data, "big") == 1000
    assert w3.eth.get_balance(to) == 0


# ---------------------------------------------------------------- WebSocket subscriptions


async def _subscriptions(ws_url: str, token_address: str, abi: list) -> dict:
    async with AsyncWeb3(WebSocketProvider(ws_url)) as aw3:
        assert await aw3.is_connected()
        assert await aw3.eth.chain_id == CHAIN_ID
        token = aw3.eth.contract(address=token_address, abi=abi)
        heads_id = await aw3.eth.subscribe("newHeads")
        logs_id = await aw3.eth.subscribe("logs", {"address": token_address, "topics": [TRANSFER_TOPIC]})
        assert heads_id != logs_id

        to = fresh_address()
        sender = (await aw3.eth.accounts)[0]
        tx_hash = await token.functions.transfer(to, 4321).transact({"from": sender})
        receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=WS_TIMEOUT_S)

        heads, logs = [], []
        async def collect():
            async for message in aw3.socket.process_subscriptions():
                if message["subscription"] == heads_id:
                    heads.append(message["result"])
                elif message["subscription"] == logs_id:
                    logs.append(message["result"])
                if any(h["number"] == receipt.blockNumber for h in heads) and logs:
                    return

        await asyncio.wait_for(collect(), WS_TIMEOUT_S)
        assert await aw3.eth.unsubscribe(heads_id) is True
        assert await aw3.eth.unsubscribe(logs_id) is True
        return {"to": to, "sender": sender, "tx_hash": tx_hash, "receipt": receipt, "heads": heads, "logs": logs, "token": token}


def test_websocket_subscriptions(ws_url, token):
    got = asyncio.run(_subscriptions(ws_url, token.address, token.abi))
    receipt = got["receipt"]
    assert receipt.status == 1

    (head,) = [h for h in got["heads"] if h["number"] == receipt.blockNumber]
    assert head["hash"] == receipt.blockHash
    assert head["transactionsRoot"] != HexBytes(b"")
    assert head["baseFeePerGas"] == BASE_FEE

    (log,) = got["logs"]
    assert log["transactionHash"] == got["tx_hash"]
    assert log["blockNumber"] == receipt.blockNumber and log["blockHash"] == receipt.blockHash
    assert log["address"] == token.address
    assert log["removed"] is False
    event = token.events.Transfer().process_log(log)
    assert event.args["from"] == got["sender"] and event.args.to == got["to"] and event.args.value == 4321


async def _handler_subscriptions(ws_url: str, token_address: str, abi: list) -> dict:
    """web3 7+ handler style: subscription objects with handlers, run by handle_subscriptions()."""
    seen = {"heads": [], "pending": [], "logs": []}
    wanted: dict = {}

    async def on_head(ctx):
        seen["heads"].append(ctx.result)
        if wanted and any(h["number"] >= wanted["last_block"] for h in seen["heads"]):
            await ctx.subscription.unsubscribe()

    async def on_pending(ctx):
        seen["pending"].append(ctx.result)
        if wanted and wanted["tx_hash"] in seen["pending"]:
            await ctx.subscription.unsubscribe()

    async def on_log(ctx):
        seen["logs"].append(ctx.result)
        if wanted and any(l["transactionHash"] == wanted["tx_hash"] for l in seen["logs"]):
            await ctx.subscription.unsubscribe()

    async with AsyncWeb3(WebSocketProvider(ws_url)) as aw3:
        ids = await aw3.subscription_manager.subscribe(
            [
                NewHeadsSubscription(handler=on_head, label="heads"),
                PendingTxSubscription(handler=on_pending, label="pending"),
                LogsSubscription(address=token_address, topics=[TRANSFER_TOPIC], handler=on_log, label="logs"),
            ]
        )
        assert len(set(ids)) == 3

        token = aw3.eth.contract(address=token_address, abi=abi)
        sender = (await aw3.eth.accounts)[1]
        to = fresh_address()
        tx_hash = await token.functions.transfer(to, 0).transact({"from": sender})
        receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=WS_TIMEOUT_S)
        await aw3.provider.make_request("anvil_mine", ["0x2"])
        wanted.update(tx_hash=tx_hash, last_block=receipt.blockNumber + 2)

        await asyncio.wait_for(aw3.subscription_manager.handle_subscriptions(), WS_TIMEOUT_S)
        assert aw3.subscription_manager.subscriptions == []
        return {**seen, "tx_hash": tx_hash, "receipt": receipt, "sender": sender, "to": to}


def test_websocket_handler_subscriptions(ws_url, token):
    got = asyncio.run(_handler_subscriptions(ws_url, token.address, token.abi))
    receipt = got["receipt"]
    numbers = [h["number"] for h in got["heads"]]
    # the transfer's block and the two mined after it, in order, no gaps
    tail = numbers[numbers.index(receipt.blockNumber) :]
    assert tail[:3] == [receipt.blockNumber, receipt.blockNumber + 1, receipt.blockNumber + 2]
    assert got["tx_hash"] in got["pending"]
    (log,) = [l for l in got["logs"] if l["transactionHash"] == got["tx_hash"]]
    event = token.events.Transfer().process_log(log)
    assert event.args["from"] == got["sender"] and event.args.to == got["to"] and event.args.value == 0
