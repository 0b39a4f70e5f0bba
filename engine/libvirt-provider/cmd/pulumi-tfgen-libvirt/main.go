package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"fleet.local/engine/pulumi-resource-libvirt/provider"
	"fleet.local/engine/pulumi-resource-libvirt/version"
)

func main() {
	tfgen.Main("libvirt", version.Version, provider.Provider())
}
