from services.feedback.entrypoint import main

main()
