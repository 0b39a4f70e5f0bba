package main

import (
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"fleet.local/engine/pulumi-resource-proxmoxve/provider"
)

// The muxed generator also records, in bridge-metadata.json beside schema.json, which of the two
// upstream providers serves each resource and function; the provider binary embeds that table.
func main() {
	pftfgen.MainWithMuxer("proxmoxve", provider.Provider())
}
