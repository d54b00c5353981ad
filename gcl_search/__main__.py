from gcl_search.cli import main

main()
