// The nightly drift check's issue for one stack (run by actions/github-script in drift.yml):
// "Drift: stack <name>" is open while the stack drifted, failed to preview, or has undeployed
// changes (stack-issue.js keeps it in step), labelled `drift`.
// Reads STACK and STATUS (make drift's exit status) from the environment and the review files
// in .review/<stack>/drift/ (verdict.json, comment.md: at most 65,536 bytes, GitHub's body limit).
const fs = require('fs');
const syncIssue = require('./stack-issue.js');

module.exports = async ({ github, context, core }) => {
  const stack = process.env.STACK;
  const folder = `.review/${stack}/drift`;
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
  const read = (name) => (fs.existsSync(`${folder}/${name}`) ? fs.readFileSync(`${folder}/${name}`, 'utf8') : null);
  const verdictText = read('verdict.json');
  const verdict = verdictText ? JSON.parse(verdictText) : null;
  await syncIssue({ github, context, core }, {
    title: `Drift: stack ${stack}`,
    label: { name: 'drift', color: 'd93f0b', description: 'A stack differs from its declaration (nightly drift check)' },
    ok: verdict !== null && verdict.ok && process.env.STATUS === '0',
    body:
      read('comment.md') ??
      `The drift check of stack \`${stack}\` could not run (exit status ${process.env.STATUS || 'unknown'}); ` +
        `its log is in [run ${context.runId}](${run}).`,
    still: `Still differs on [run ${context.runId}](${run}); the text above is tonight's.`,
    fixed: `The drift check of [run ${context.runId}](${run}) found stack \`${stack}\` matching its declaration again.`,
  });
};
