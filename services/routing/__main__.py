from services.routing.entrypoint import main

main()
