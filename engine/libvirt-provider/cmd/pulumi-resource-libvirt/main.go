package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"fleet.local/engine/pulumi-resource-libvirt/provider"
	"fleet.local/engine/pulumi-resource-libvirt/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("libvirt", version.Version, provider.Provider(), pulumiSchema)
}
