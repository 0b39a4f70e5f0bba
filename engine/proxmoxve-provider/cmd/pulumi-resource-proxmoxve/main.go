package main

import (
	"context"
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"fleet.local/engine/pulumi-resource-proxmoxve/provider"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	pftfbridge.MainWithMuxer(context.Background(), "proxmoxve", provider.Provider(), pulumiSchema)
}
