// One open issue per stack and finding (drift, audit), kept in step with the nightly checks: opened
// while the check fails, its text replaced on later nights with a comment saying so, and closed with
// a comment once the check passes again. The issue is found by its title among the open issues (a
// label can be removed by hand, a title is what people see) and carries a label, made when missing
// (GitHub may drop a label that does not exist). Used by drift-issue.js and audit-issue.js.

async function ensureLabel(github, context, label) {
  try {
    await github.rest.issues.getLabel({ ...context.repo, name: label.name });
  } catch (error) {
    if (error.status !== 404) throw error;
    await github.rest.issues.createLabel({ ...context.repo, ...label });
  }
}

// title: the issue's title; label: {name, color, description}; ok: whether the check passed;
// body: the issue's text while it fails (at most 65,536 bytes, GitHub's limit); still: the comment
// on a later failing night; fixed: the comment that closes it.
module.exports = async ({ github, context, core }, { title, label, ok, body, still, fixed }) => {
  const open = await github.paginate(github.rest.issues.listForRepo, { ...context.repo, state: 'open', per_page: 100 });
  const issue = open.find((candidate) => candidate.title === title && !candidate.pull_request);

  if (ok) {
    if (issue) {
      await github.rest.issues.createComment({ ...context.repo, issue_number: issue.number, body: fixed });
      await github.rest.issues.update({ ...context.repo, issue_number: issue.number, state: 'closed' });
      core.info(`closed #${issue.number}: ${title}`);
    }
    return;
  }
  if (issue) {
    await github.rest.issues.update({ ...context.repo, issue_number: issue.number, body });
    await github.rest.issues.createComment({ ...context.repo, issue_number: issue.number, body: still });
    core.warning(`${title}: still open as #${issue.number}`);
  } else {
    await ensureLabel(github, context, label);
    const created = await github.rest.issues.create({ ...context.repo, title, body, labels: [label.name] });
    core.warning(`${title}: opened #${created.data.number}`);
  }
};
