module.exports = require('./open-handles').reportOpenHandles;
