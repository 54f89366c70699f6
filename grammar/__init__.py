"""The .ag grammar files; installed as the resource package gradcli.grammar."""
