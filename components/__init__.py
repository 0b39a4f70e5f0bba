"""Backend-neutral Pulumi components: one concept each, wired together by `Fleet`."""
