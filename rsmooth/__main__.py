from rsmooth.cli import main

main()
