// Round "transfer": moves `money` between pairs of accounts the "open" round created.
'use strict';

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { accountName } = require('./accounts');

class Transfer extends WorkloadModuleBase {
    async submitTransaction() {
        const n = this.roundArguments.accounts;
        const i = this.txIndex++;
        return this.sutAdapter.sendRequests({
            contract: 'simple',
            verb: 'transfer',
            args: [accountName(this.workerIndex, i % n), accountName(this.workerIndex, (i + 1) % n), this.roundArguments.money],
            readOnly: false,
        });
    }

    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.txIndex = 0;
    }
}

module.exports.createWorkloadModule = () => new Transfer();
