from services.intake.entrypoint import main

main()
