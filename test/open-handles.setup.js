module.exports = require('./open-handles').recordBaseline;
