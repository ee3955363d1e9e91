module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'qmp',
  rootDir: __dirname,
};
