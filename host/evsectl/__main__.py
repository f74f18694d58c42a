from evsectl.cli import main

main()
