// Account names of the simple benchmark, per worker so workers never share an account.
'use strict';

module.exports.accountName = (workerIndex, i) => `w${workerIndex}-account-${i}`;
