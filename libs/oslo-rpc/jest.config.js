module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'oslo-rpc',
  rootDir: __dirname,
};
