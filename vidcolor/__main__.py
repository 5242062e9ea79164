from vidcolor.cli.commands import main

main()
