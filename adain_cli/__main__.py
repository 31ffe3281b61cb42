from adain_cli.cli import main

main()
