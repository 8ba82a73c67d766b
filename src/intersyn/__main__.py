from intersyn.cli import main

main()
