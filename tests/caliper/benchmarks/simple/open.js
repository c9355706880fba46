// Round "open": each transaction opens a new account holding `initialMoney`.
'use strict';

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { accountName } = require('./accounts');

class Open extends WorkloadModuleBase {
    async submitTransaction() {
        const account = accountName(this.workerIndex, this.txIndex++);
        return this.sutAdapter.sendRequests({
            contract: 'simple',
            verb: 'open',
            args: [account, this.roundArguments.initialMoney],
            readOnly: false,
        });
    }

    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.txIndex = 0;
    }
}

module.exports.createWorkloadModule = () => new Open();
