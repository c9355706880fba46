// Round "query": reads accounts the "open" round created (eth_call).
'use strict';

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { accountName } = require('./accounts');

class Query extends WorkloadModuleBase {
    async submitTransaction() {
        const i = this.txIndex++ % this.roundArguments.accounts;
        return this.sutAdapter.sendRequests({
            contract: 'simple',
            verb: 'query',
            args: [accountName(this.workerIndex, i)],
            readOnly: true,
        });
    }

    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.txIndex = 0;
    }
}

module.exports.createWorkloadModule = () => new Query();
