// The nightly drift check's issue for one stack (run by actions/github-script in drift.yml):
// open "Drift: stack <name>" when the stack drifted, failed to preview, or has undeployed changes;
// update its text on later nights; close it with a comment once the stack matches again. The issue
// is found by its title, and labelled `drift` (the label is made when missing).
// Reads STACK and STATUS (make drift's exit status) from the environment and the review files
// in .review/<stack>/drift/ (verdict.json, comment.md: at most 65,536 bytes, GitHub's body limit).
const fs = require('fs');

const LABEL = 'drift';

// The label the drift issues carry, made the first time (GitHub may drop a label that does not exist).
async function ensureLabel(github, context) {
  try {
    await github.rest.issues.getLabel({ ...context.repo, name: LABEL });
  } catch (error) {
    if (error.status !== 404) throw error;
    await github.rest.issues.createLabel({
      ...context.repo,
      name: LABEL,
      color: 'd93f0b',
      description: 'A stack differs from its declaration (nightly drift check)',
    });
  }
}

module.exports = async ({ github, context, core }) => {
  const stack = process.env.STACK;
  const folder = `.review/${stack}/drift`;
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
  const title = `Drift: stack ${stack}`;
  const read = (name) => (fs.existsSync(`${folder}/${name}`) ? fs.readFileSync(`${folder}/${name}`, 'utf8') : null);
  const verdictText = read('verdict.json');
  const verdict = verdictText ? JSON.parse(verdictText) : null;
  const matches = verdict !== null && verdict.ok && process.env.STATUS === '0';

  // Found by its title among all open issues: a label can be removed by hand, a title is what people see.
  const open = await github.paginate(github.rest.issues.listForRepo, { ...context.repo, state: 'open', per_page: 100 });
  const issue = open.find((candidate) => candidate.title === title && !candidate.pull_request);

  if (matches) {
    if (issue) {
      await github.rest.issues.createComment({
        ...context.repo,
        issue_number: issue.number,
        body: `The drift check of [run ${context.runId}](${run}) found stack \`${stack}\` matching its declaration again.`,
      });
      await github.rest.issues.update({ ...context.repo, issue_number: issue.number, state: 'closed' });
      core.info(`closed #${issue.number}: stack ${stack} matches again`);
    }
    return;
  }

  const body =
    read('comment.md') ??
    `The drift check of stack \`${stack}\` could not run (exit status ${process.env.STATUS || 'unknown'}); ` +
      `its log is in [run ${context.runId}](${run}).`;
  if (issue) {
    await github.rest.issues.update({ ...context.repo, issue_number: issue.number, body });
    await github.rest.issues.createComment({
      ...context.repo,
      issue_number: issue.number,
      body: `Still differs on [run ${context.runId}](${run}); the text above is tonight's.`,
    });
    core.warning(`stack ${stack} still drifted: #${issue.number}`);
  } else {
    await ensureLabel(github, context);
    const created = await github.rest.issues.create({ ...context.repo, title, body, labels: [LABEL] });
    core.warning(`stack ${stack} drifted: opened #${created.data.number}`);
  }
};
