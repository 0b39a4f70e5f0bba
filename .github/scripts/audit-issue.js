// The nightly fleet audit's issue for one stack (run by actions/github-script in audit.yml):
// "Audit: stack <name>" is open while the audit finds a violation or could not read every host
// (stack-issue.js keeps it in step), labelled `audit`; its text is the audit's Markdown report.
// Reads STACK and STATUS (make audit's exit status: 0 in rule, 1 violations, 2 partial, 3 both,
// 4 could not run) from the environment and .audit/<stack>/audit.md (at most 65,536 bytes).
const fs = require('fs');
const syncIssue = require('./stack-issue.js');

module.exports = async ({ github, context, core }) => {
  const stack = process.env.STACK;
  const report = `.audit/${stack}/audit.md`;
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
  const status = process.env.STATUS || 'unknown';
  const body = fs.existsSync(report)
    ? fs.readFileSync(report, 'utf8')
    : `The audit of stack \`${stack}\` could not run (exit status ${status}); its log is in [run ${context.runId}](${run}).`;
  await syncIssue({ github, context, core }, {
    title: `Audit: stack ${stack}`,
    label: { name: 'audit', color: 'fbca04', description: "A stack's hosts break its rules (nightly fleet audit)" },
    ok: status === '0',
    body,
    still: `Still out of rule on [run ${context.runId}](${run}) (exit status ${status}); the text above is tonight's report.`,
    fixed: `The audit of [run ${context.runId}](${run}) found stack \`${stack}\` in rule again.`,
  });
};
