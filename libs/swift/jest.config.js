module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'swift',
  rootDir: __dirname,
};
